import { alarmService } from './alarm/service.js';
import { captureService } from './capture/service.js';
import { daynightService } from './daynight/service.js';
import { timeService } from './time/service.js';
import { liveService } from './live/service.js';
import { storageService } from './storage/service.js';
import { cloudService } from './cloud/service.js';
import { controlServer } from './control/server.js';
import { MAX_EVENT_BYTES } from './cloud/outbox/record.js';
import { detectionServiceWith } from './detect/service.js';
import { healthService } from './health/service.js';
import { networkService } from './network/service.js';
import { privacyService } from './privacy/service.js';
import { ptzService } from './ptz/service.js';
import { indicatorService } from './indicator/service.js';
import { resetService } from './reset/service.js';
import { coreCommands } from './supervisor/core-commands.js';
import { updateService } from './update/service.js';
import { homeassistantService } from './homeassistant/service.js';
import { rtspService } from './rtsp/service.js';
import type { ServiceFactory } from './supervisor/service.js';

/** Detection builds the cloud's detection record, whose inline snapshot must fit the outbox's per-event bound. */
export const detectionService = detectionServiceWith({ maxEventBytes: MAX_EVENT_BYTES });

/**
 * Capture, storage and live view, in start order: the card state is known before capture
 * decides whether to record, and live view starts once capture runs. Composed here, not in
 * capture/, so media flows one way (live and storage read capture, never the reverse).
 */
export const captureServices: ServiceFactory[] = [storageService, captureService, liveService];

/**
 * The services of one boot, in start order (stop runs in reverse). The control socket starts
 * first so `camctl status` works while the rest boots, and stops last.
 */
export const defaultServices: ServiceFactory[] = [controlServer, coreCommands, timeService, privacyService, cloudService, indicatorService, resetService, networkService, healthService, alarmService, daynightService, ptzService, ...captureServices, rtspService, detectionService, updateService, homeassistantService];
