import type { Box, Polygon } from './types.js';

/**
 * Detection areas. An object is in an area when the bottom centre of its box — where it stands
 * on the ground — lies inside one of the lens's polygons; an empty list means the whole image.
 * The feet rule (Frigate's zones use it too) keeps a person walking past the edge of a driveway
 * polygon out of it even when their head overlaps it.
 */

/** Even-odd ray casting; points exactly on an edge may land either side, which is harmless here. */
export function pointInPolygon(px: number, py: number, poly: Polygon): boolean {
  let inside = false;
  const n = poly.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function bottomCentre(box: Box): [number, number] {
  return [box.x + box.w / 2, box.y + box.h];
}

export function inAreas(box: Box, areas: readonly Polygon[]): boolean {
  if (areas.length === 0) return true;
  const [x, y] = bottomCentre(box);
  // A box touching the bottom edge has its feet at y = 1; nudge inside so edge polygons match.
  const py = Math.min(y, 1 - 1e-9);
  return areas.some((p) => pointInPolygon(x, py, p));
}

/** For image change the region has no "feet": its centre decides. */
export function centreInAreas(box: Box, areas: readonly Polygon[]): boolean {
  if (areas.length === 0) return true;
  return areas.some((p) => pointInPolygon(box.x + box.w / 2, box.y + box.h / 2, p));
}
