/**
 * The MQTT topic map under `<prefix>/<serial>/`. Stable: it is the camera's public interface
 * (see README.md, "Cloud interface (MQTT)"); the broker's ACL grants each device exactly this subtree.
 */
export interface Topics {
  base: string;
  availability: string;
  state: string;
  events: string;
  /** Subscription filter for every command, including ones registered later. */
  commandFilter: string;
  configDesired: string;
  configReported: string;
  /** The fallback reply topic of one command (no MQTT 5 response topic, or an unusable one). */
  commandReply(name: string): string;
  /** The command name of a `cmd/<name>` topic, or undefined for any other topic. */
  commandName(topic: string): string | undefined;
  /** A response topic the device may answer on: under its own base, no wildcards. */
  isOwnTopic(topic: string): boolean;
}

export function topicsFor(prefix: string, serial: string): Topics {
  const base = `${prefix}/${serial}`;
  const cmdPrefix = `${base}/cmd/`;
  return {
    base,
    availability: `${base}/availability`,
    state: `${base}/state`,
    events: `${base}/events`,
    commandFilter: `${base}/cmd/+`,
    configDesired: `${base}/config/desired`,
    configReported: `${base}/config/reported`,
    commandReply: (name) => `${cmdPrefix}${name}/reply`,
    commandName(topic) {
      if (!topic.startsWith(cmdPrefix)) return undefined;
      const name = topic.slice(cmdPrefix.length);
      return name.length > 0 && !name.includes('/') ? name : undefined;
    },
    isOwnTopic(topic) {
      return topic.startsWith(`${base}/`) && topic.length > base.length + 1 && !/[+#\u0000]/.test(topic) && Buffer.byteLength(topic) <= 1024;
    },
  };
}
