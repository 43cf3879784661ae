/**
 * Shared contract of the slide reader (owned by libs/wsi, exported from `@app/wsi`).
 * Other libraries (pathology, API) code against these types only.
 */
export interface RgbImage {
  width: number;
  height: number;
  channels: 3;
  data: Uint8Array /* interleaved RGB, row-major */;
}

export interface SlideLevel {
  width: number;
  height: number;
  downsample: number;
  tileWidth: number;
  tileHeight: number;
}

export type SlideFormat = 'aperio-svs' | 'generic-tiff' | 'ome-tiff' | 'dicom-wsi';

export interface SlideReader {
  readonly format: SlideFormat;
  readonly levels: readonly SlideLevel[]; // level 0 = full resolution
  readonly mpp: { x: number; y: number } | null; // microns per pixel at level 0
  readonly objectivePower: number | null;
  /** OpenSlide-style keys: 'openslide.mpp-x', 'openslide.objective-power', 'openslide.level[0].width', 'aperio.AppMag', 'tiff.ImageDescription', ... */
  readonly properties: Readonly<Record<string, string>>;
  readonly associatedImageNames: readonly string[]; // e.g. ['label','macro','thumbnail']
  /** INTERNAL USE ONLY (blinding checks); label/macro may carry PHI and are never served or copied. */
  readAssociatedImage(name: string): Promise<RgbImage>;
  /** Like OpenSlide read_region: x, y in LEVEL-0 pixel coordinates, w, h in pixels of `level`. Outside the slide = white (255). */
  readRegion(level: number, x: number, y: number, w: number, h: number): Promise<RgbImage>;
  /**
   * Optional: readRegion(level, x, y, w, h) resized to outW x outH by resizeRgb, done where the tiles are decoded (the
   * TIFF reader: in one decoder-sandbox task), so that only the resized pixels cross back. The same bytes as
   * resizeRgb(await readRegion(level, x, y, w, h), outW, outH).
   */
  readRegionScaled?(level: number, x: number, y: number, w: number, h: number, outW: number, outH: number): Promise<RgbImage>;
  getBestLevelForDownsample(downsample: number): number;
  close(): Promise<void>;
}

export interface OpenSlideOptions {
  cacheBytes?: number /* bounded decode cache, default 64 MiB */;
  maxLevelPixels?: number;
  /**
   * Decode tiles / strips / frames in the decoder sandbox (child processes, @app/core): a decoder that
   * crashes, runs out of memory or time becomes an InputError instead of killing this process.
   * Default true (WSI_SANDBOX=off changes the default, for trusted files only).
   */
  sandbox?: boolean;
}
