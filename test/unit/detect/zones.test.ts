import { describe, expect, it } from 'vitest';
import { centreInAreas, inAreas, pointInPolygon } from '../../../src/detect/zones.js';
import type { Polygon } from '../../../src/detect/types.js';

const driveway: Polygon = [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]];
const lShape: Polygon = [[0, 0], [0.4, 0], [0.4, 0.6], [1, 0.6], [1, 1], [0, 1]];

describe('detection areas', () => {
  it('an empty list means the whole image', () => {
    expect(inAreas({ x: 0, y: 0, w: 0.1, h: 0.1 }, [])).toBe(true);
  });

  it('counts an object by the bottom centre of its box (its feet), not by overlap', () => {
    // Head inside the driveway, feet outside on the left: not in the area.
    expect(inAreas({ x: 0.3, y: 0.55, w: 0.15, h: 0.2 }, [driveway])).toBe(false);
    // Mostly outside (above), feet inside: in the area.
    expect(inAreas({ x: 0.6, y: 0.1, w: 0.1, h: 0.5 }, [driveway])).toBe(true);
  });

  it('a box standing on the bottom edge of the image matches a polygon drawn to the edge', () => {
    expect(inAreas({ x: 0.7, y: 0.6, w: 0.1, h: 0.4 }, [driveway])).toBe(true);
  });

  it('handles concave polygons and several polygons', () => {
    expect(pointInPolygon(0.7, 0.3, lShape)).toBe(false); // in the notch
    expect(pointInPolygon(0.2, 0.3, lShape)).toBe(true);
    expect(pointInPolygon(0.7, 0.8, lShape)).toBe(true);
    expect(inAreas({ x: 0.65, y: 0.1, w: 0.1, h: 0.2 }, [lShape, driveway])).toBe(false);
    expect(inAreas({ x: 0.65, y: 0.1, w: 0.1, h: 0.5 }, [lShape, driveway])).toBe(true);
  });

  it('image change uses the centre of the changed region', () => {
    expect(centreInAreas({ x: 0.6, y: 0.6, w: 0.1, h: 0.1 }, [driveway])).toBe(true);
    expect(centreInAreas({ x: 0.1, y: 0.6, w: 0.1, h: 0.1 }, [driveway])).toBe(false);
  });
});
