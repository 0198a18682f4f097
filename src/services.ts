import { alarmService } from './alarm/service.js';
import { captureServices } from './capture/services.js';
import { cloudService } from './cloud/service.js';
import { controlServer } from './control/server.js';
import { detectionService } from './detect/service.js';
import { healthService } from './health/service.js';
import { networkService } from './network/service.js';
import { privacyService } from './privacy/service.js';
import { ptzService } from './ptz/service.js';
import { indicatorService } from './indicator/service.js';
import { resetService } from './reset/service.js';
import { coreCommands } from './supervisor/core-commands.js';
import type { ServiceFactory } from './supervisor/service.js';

/**
 * The services of one boot, in start order (stop runs in reverse). The control socket starts
 * first so `camctl status` works while the rest boots, and stops last.
 */
export const defaultServices: ServiceFactory[] = [controlServer, coreCommands, privacyService, cloudService, indicatorService, resetService, networkService, healthService, alarmService, ptzService, ...captureServices, detectionService];
