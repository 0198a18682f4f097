/**
 * The MQTT topic map under `<prefix>/<serial>/`. Stable: it is the camera's public interface
 * (see README.md, "Cloud interface (MQTT)"); the broker's ACL grants each device exactly this subtree.
 */
export interface Topics {
  base: string;
  availability: string;
  state: string;
  /** Counters and readings split off the state, every `cloud.telemetrySeconds` (retained, QoS 0). */
  telemetry: string;
  events: string;
  /** Subscription filter for every command, including ones registered later. */
  commandFilter: string;
  configDesired: string;
  configReported: string;
  /** The fallback reply topic of one command (no MQTT 5 response topic, or an unusable one). */
  commandReply(name: string): string;
  /** The command name of a `cmd/<name>` topic, or undefined for any other topic. */
  commandName(topic: string): string | undefined;
  /** Where callers' MQTT 5 response topics must lie: `<base>/reply/`. */
  replyPrefix: string;
  /**
   * A response topic the device may answer on: under `<base>/reply/`, no wildcards. Nothing else:
   * every other topic under the base is one the device subscribes to (a reply there would be run as
   * a command or applied as settings) or owns for another purpose (events, state, availability,
   * where a reply would be a forged document).
   */
  isReplyTopic(topic: string): boolean;
}

export function topicsFor(prefix: string, serial: string): Topics {
  const base = `${prefix}/${serial}`;
  const cmdPrefix = `${base}/cmd/`;
  const replyPrefix = `${base}/reply/`;
  return {
    base,
    availability: `${base}/availability`,
    state: `${base}/state`,
    telemetry: `${base}/telemetry`,
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
    replyPrefix,
    isReplyTopic(topic) {
      return topic.startsWith(replyPrefix) && topic.length > replyPrefix.length && !/[+#\u0000]/.test(topic) && Buffer.byteLength(topic) <= 1024;
    },
  };
}
