/**
 * Domain types more than one feature speaks: defined once here so that detection, alarm,
 * storage, PTZ and the cloud agree by construction instead of by copies that can drift apart.
 * Type-only, plus the constant lists that go with them; no feature code.
 *
 * `LensName` and `LENSES` are defined by the board schema (board/ and drivers/ never import from
 * src/), so they are re-exported from there rather than declared a second time.
 */
export { LENSES, type LensName } from '../../board/schema.js';

/** The two object classes the product knows; COCO classes are mapped onto these. */
export type ObjectClass = 'human' | 'vehicle';
export const OBJECT_CLASSES: readonly ObjectClass[] = ['human', 'vehicle'];
/** What a detection episode is about: an object class or a plain image change. */
export type DetectionType = ObjectClass | 'change';
export const DETECTION_TYPES: readonly DetectionType[] = ['human', 'vehicle', 'change'];

/** Axis-aligned box, normalised to the lens's full field of view: top-left corner plus size. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}
