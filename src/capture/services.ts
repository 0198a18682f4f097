import type { ServiceFactory } from '../supervisor/service.js';
import { storageService } from '../storage/service.js';
import { liveService } from '../live/service.js';
import { captureService } from './service.js';

/**
 * Capture, storage and live view, in start order: the card state is known before capture
 * decides whether to record, and live view starts once capture runs.
 */
export const captureServices: ServiceFactory[] = [storageService, captureService, liveService];
