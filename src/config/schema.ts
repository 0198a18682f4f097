import { isIP } from 'node:net';
import { z } from 'zod';
import { isTimeZone, timeZoneError } from '../core/timezone.js';

/**
 * The owner's settings: one schema gives the TypeScript type, validation (unknown keys and
 * out-of-range values rejected with their path), the defaults — which *are* the factory defaults
 * — and the documentation (`describe`). The MQTT `config/desired` document and `camctl config
 * set` are validated by this very schema.
 */
const pct = z.number().int().min(1).max(100);
const seconds = (max: number) => z.number().int().min(0).max(max);

/** Normalised image coordinates: (0,0) top left, (1,1) bottom right. */
const Point = z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]);
const Polygon = z.array(Point).min(3).max(32).describe('closed polygon, normalised coordinates');
const Areas = z
  .object({
    wide: z.array(Polygon).max(8).default([]),
    ptz: z.array(Polygon).max(8).default([]),
  })
  .strict()
  .describe('detection areas per lens; an empty list means the whole image');

const Algorithm = (enabledByDefault: boolean) =>
  z
    .object({
      enabled: z.boolean().default(enabledByDefault),
      /** 1 = only the clearest cases, 100 = everything; see README "Sensitivity". */
      sensitivity: pct.default(50).describe('1..100; false alarms → lower it'),
      areas: Areas.prefault({}),
    })
    .strict();

const LightAlert = z
  .object({
    strobe: z.boolean().default(false).describe('flash the red/blue strobes alternately'),
    strobeSeconds: seconds(300).default(10).describe('how long the strobes flash after a detection'),
    spotlight: z.boolean().default(false),
    spotlightSeconds: seconds(600).default(30),
  })
  .strict();

const AudioAlert = z
  .object({
    siren: z.boolean().default(false),
    tone: z.enum(['siren', 'beep', 'chime']).default('siren'),
    sirenSeconds: seconds(300).default(10),
  })
  .strict();

const LensSettings = z
  .object({
    /** Ceiling mount turns the image upside down: `flip` rotates it 180°. */
    orientation: z.enum(['normal', 'flip', 'mirror']).default('normal'),
    /** Quality profile name from the board file; empty = the board's default. */
    quality: z.string().max(32).default(''),
  })
  .strict();

const Preset = z
  .object({
    name: z.string().min(1).max(32),
    pan: z.number().min(-360).max(360),
    tilt: z.number().min(-90).max(90),
    /** Patrol dwell at this preset; absent = ptz.patrol.dwellSeconds. */
    dwellSeconds: z.number().int().min(2).max(3600).optional(),
  })
  .strict();

export const ConfigSchema = z
  .object({
    version: z.literal(1).default(1),
    device: z
      .object({
        name: z.string().min(1).max(64).default('Camera'),
        timezone: z
          .string()
          .min(1)
          .max(64)
          .superRefine((v, ctx) => {
            if (!isTimeZone(v)) ctx.addIssue({ code: 'custom', message: timeZoneError(v) });
          })
          .default('UTC')
          .describe('IANA time zone (e.g. Europe/Amsterdam) for the times people read; stored times stay UTC'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') })
      .strict()
      .prefault({}),
    indicator: z
      .object({ enabled: z.boolean().default(true).describe('status LED on; off still shows faults at boot') })
      .strict()
      .prefault({}),
    cloud: z
      .object({
        /** mqtts://host:8883 in production; mqtt:// is refused unless allowPlaintext is set. */
        url: z.string().regex(/^mqtts?:\/\/[^\s/@:]+(:\d+)?$/, 'must be mqtt://host[:port] or mqtts://host[:port] (credentials belong in the secrets file)').default('mqtts://cloud.invalid:8883'),
        allowPlaintext: z.boolean().default(false).describe('only for the local simulator broker'),
        topicPrefix: z.string().regex(/^[a-z0-9_-]+$/).default('camd'),
        keepaliveSeconds: z.number().int().min(10).max(1200).default(30),
        /** Bound of the on-disk event outbox (flash); when full, oldest low-priority events go first, counted (README.md "Cloud interface"). */
        outboxMaxBytes: z.number().int().min(1024 * 1024).max(1024 * 1024 * 1024).default(16 * 1024 * 1024).describe('event outbox size bound in bytes'),
        /** How often the `telemetry` document (counters, readings) is published; the `state` goes out only on change (README.md "State and telemetry"). */
        telemetrySeconds: z.number().int().min(10).max(86_400).default(300).describe('telemetry publish interval'),
      })
      .strict()
      .prefault({}),
    /**
     * What a live push or talk URL may be (src/live/url-policy.ts). Both widen where the camera connects,
     * so only the local shell may change them (src/config/access.ts); the sim board's factory
     * defaults allow them, as they allow the plaintext broker, for its local test servers.
     */
    live: z
      .object({
        allowPlaintext: z.boolean().default(false).describe('allow rtmp://, rtsp://, srt:// without passphrase and http:// (no TLS)'),
        allowLocalTargets: z.boolean().default(false).describe('allow loopback, link-local and private-range hosts as push/talk targets'),
      })
      .strict()
      .prefault({}),
    /**
     * The local RTSP stream for NVRs (src/rtsp/): off by default; it opens a listening port on the
     * LAN, so only the local shell may change it (src/config/access.ts). The credentials are in the
     * secrets file (`rtsp`), made on first enable.
     */
    rtsp: z
      .object({
        enabled: z.boolean().default(false).describe('serve rtsp://<address>:<port>/wide and /ptz (Digest auth) to NVRs on the LAN'),
        port: z.number().int().min(1024).max(65535).default(8554).describe('TCP port; the systemd drop-in camd-rtsp.conf must allow the same one'),
        bindAddress: z
          .string()
          .max(64)
          .refine((s) => s === '' || isIP(s) !== 0, 'an IP address, or empty for the active link\'s address')
          .default('')
          .describe("address to listen on; empty = the active network link's; 0.0.0.0 or :: only when set on purpose"),
        maxClients: z.number().int().min(1).max(8).default(4).describe('RTSP connections at a time'),
      })
      .strict()
      .prefault({}),
    network: z
      .object({
        preferWired: z.boolean().default(true),
        /** How long the cloud may be unreachable before the LED shows a network exception. */
        offlineGraceSeconds: z.number().int().min(5).max(600).default(30),
      })
      .strict()
      .prefault({}),
    health: z
      .object({
        /** How often CPU, temperature, memory, disk and uptime are sampled into state.health. */
        intervalSeconds: z.number().int().min(5).max(3600).default(30).describe('health sampling interval'),
      })
      .strict()
      .prefault({}),
    update: z
      .object({
        /** How long a freshly updated release must stay healthy before it is kept (README "Firmware updates"). */
        trialSeconds: z.number().int().min(5).max(3600).default(60).describe('trial of a new release: healthy this long, or it is rolled back'),
        /** Starts of a release on trial before the boot guard switches back to the previous one. */
        maxBoots: z.number().int().min(1).max(10).default(3).describe('starts on trial before rolling back'),
      })
      .strict()
      .prefault({}),
    lenses: z
      .object({ wide: LensSettings.prefault({}), ptz: LensSettings.prefault({}) })
      .strict()
      .prefault({}),
    capture: z
      .object({
        /** The frame tap the detectors read (bus 'capture.frame', see src/capture/tap.ts). */
        tap: z
          .object({
            width: z.number().int().min(32).max(1280).default(352).describe('gray tap width (change detection)'),
            height: z.number().int().min(18).max(720).default(198),
            fps: z.number().min(0.5).max(30).default(5).describe('tap frames per second per lens'),
            rgbWidth: z.number().int().min(0).max(1920).default(640).describe('RGB tap width (object detector crops); 0 = no RGB tap'),
            rgbHeight: z.number().int().min(0).max(1080).default(360),
          })
          .strict()
          .prefault({}),
        /** Sleep (privacy) mode: capture, recording and live view really stop; kept across reboots. */
        sleep: z.boolean().default(false).describe('sleep mode: no capture, no recording, no live view, no alerts'),
      })
      .strict()
      .prefault({}),
    recording: z
      .object({
        mode: z.enum(['off', 'continuous', 'event']).default('event'),
        preRollSeconds: seconds(30).default(5),
        postRollSeconds: seconds(300).default(10),
        segmentSeconds: z.number().int().min(2).max(600).default(10),
        /** Privacy: the microphone is never recorded unless the owner turns this on. */
        audio: z.boolean().default(false),
        /** Delete the oldest recordings when free space on the card falls below this share. */
        minFreePercent: z.number().int().min(1).max(50).default(10),
        /** Time-based retention beside the free-space rule: recordings and stills older than this many days are deleted; 0 = off. */
        retainDays: z.number().int().min(0).max(3650).default(0).describe('delete recordings older than this many days; 0 = keep until space runs out'),
        /** Bound of one `recordings.upload` (the concatenated segments): a range that asks for more is refused before anything is sent. */
        uploadMaxBytes: z.number().int().min(64 * 1024).max(8 * 1024 * 1024 * 1024).default(512 * 1024 * 1024).describe('largest clip recordings.upload sends, in bytes'),
      })
      .strict()
      .prefault({}),
    detection: z
      .object({
        human: Algorithm(true).prefault({}),
        vehicle: Algorithm(false).prefault({}),
        change: Algorithm(false).prefault({}),
        /** Inferences per second per lens, at most. */
        maxRatePerLens: z.number().min(0.2).max(30).default(5),
        cooldownSeconds: seconds(600).default(30),
      })
      .strict()
      .prefault({}),
    lights: z
      .object({
        human: LightAlert.prefault({}),
        vehicle: LightAlert.prefault({}),
        change: LightAlert.prefault({}),
        spotlightBrightness: pct.default(100),
        /** The app's spotlight toggle (on until tapped off) is still bounded: a forgotten light goes off by itself. */
        spotlightMaxSeconds: z.number().int().min(10).max(14_400).default(900).describe('longest on-time of the spotlight switched by hand (spotlight.set, output.set)'),
      })
      .strict()
      .prefault({}),
    audio: z
      .object({
        human: AudioAlert.prefault({}),
        vehicle: AudioAlert.prefault({}),
        change: AudioAlert.prefault({}),
        volume: pct.default(80),
      })
      .strict()
      .prefault({}),
    alarm: z
      .object({
        timeoutSeconds: z.number().int().min(5).max(900).default(60),
        /** Installation/maintenance mode: detections never switch the spotlight, strobes or siren on (someone is at the camera). */
        maintenance: z.boolean().default(false).describe('installation/maintenance mode: no automatic lights or siren'),
      })
      .strict()
      .prefault({}),
    /** Day/night (src/daynight): IR-cut filter from the light sensor, with hysteresis and a dwell. */
    daynight: z
      .object({
        mode: z.enum(['auto', 'day', 'night']).default('auto').describe('auto = from the light sensor; day/night = held there'),
        nightBelowLux: z.number().min(0).max(1000).default(8).describe('switch to night when the light stays below this (lx)'),
        dayAboveLux: z.number().min(0).max(10_000).default(40).describe('switch back to day when it stays above this (lx); above nightBelowLux'),
        minDwellSeconds: z.number().int().min(10).max(3600).default(60).describe('how long the light must stay past a threshold, and the least time between two switches'),
      })
      .strict()
      // The band between the two is what keeps dusk (and the IR illuminator's own glow) from flapping.
      .refine((d) => d.dayAboveLux > d.nightBelowLux, { message: 'dayAboveLux must be above nightBelowLux', path: ['dayAboveLux'] })
      .prefault({}),
    /**
     * Home Assistant MQTT discovery (src/homeassistant): the camera announces its entities under
     * the discovery prefix and publishes its pictures as raw JPEGs. It widens what the device
     * publishes, so only the local shell may change it (src/config/access.ts).
     */
    homeassistant: z
      .object({
        enabled: z.boolean().default(false).describe('announce the camera to Home Assistant (MQTT discovery) and publish pictures as JPEG'),
        discoveryPrefix: z.string().regex(/^[a-z0-9_-]{1,64}$/).default('homeassistant').describe("Home Assistant's discovery prefix"),
        /** Pictures are bulky and only the latest matters: not retained unless asked (README "Home Assistant"). */
        retainPictures: z.boolean().default(false).describe('publish the pictures retained (a new subscriber sees the latest at once)'),
      })
      .strict()
      .prefault({}),
    ptz: z
      .object({
        presets: z.array(Preset).max(32).default([]),
        patrol: z
          .object({
            enabled: z.boolean().default(false),
            dwellSeconds: z.number().int().min(2).max(3600).default(10),
            followTarget: z.boolean().default(false),
          })
          .strict()
          .prefault({}),
        /**
         * Tap-to-look: maps a point on the wide image to PTZ pan/tilt. Angles for the image
         * corners' centre lines; see README "Tap to look" for the calibration procedure.
         */
        calibration: z
          .object({
            panAtLeft: z.number().min(-360).max(360).default(120),
            panAtRight: z.number().min(-360).max(360).default(240),
            tiltAtTop: z.number().min(-90).max(90).default(30),
            tiltAtBottom: z.number().min(-90).max(90).default(-5),
            /** Wide lens pan when the angles above were measured; absent = the board's wide-lens home. */
            widePanDeg: z.number().min(-360).max(360).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;

/** Fields that only take effect after a restart of the daemon (everything else applies live). */
export const RESTART_REQUIRED: readonly string[] = ['cloud.url', 'cloud.topicPrefix', 'cloud.allowPlaintext'];

export function defaultConfig(): Config {
  return ConfigSchema.parse({});
}

/**
 * Secrets live apart from the config in a 0600 file: Wi-Fi credentials, the cloud binding and
 * the MQTT client credentials. A factory reset deletes the whole file.
 */
export const SecretsSchema = z
  .object({
    wifi: z
      .object({ ssid: z.string().min(1).max(32), psk: z.string().min(8).max(63) })
      .strict()
      .optional(),
    binding: z
      .object({ token: z.string().min(8).max(256), boundAt: z.number().int() })
      .strict()
      .optional(),
    /** TLS for firmware downloads: a CA (PEM file) trusted besides the system CAs. */
    update: z
      .object({ caFile: z.string().optional() })
      .strict()
      .optional(),
    /** TLS for live pushes and talk URLs: a CA (PEM file) trusted besides the system CAs. */
    media: z
      .object({ caFile: z.string().optional() })
      .strict()
      .optional(),
    /** The local RTSP stream's login (src/rtsp/), random per device, made on first enable; shown by `camctl call rtsp.info`. */
    rtsp: z
      .object({ username: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/), password: z.string().min(16).max(128) })
      .strict()
      .optional(),
    mqtt: z
      .object({
        username: z.string().max(128).optional(),
        password: z.string().max(256).optional(),
        caFile: z.string().optional(),
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type Secrets = z.infer<typeof SecretsSchema>;
