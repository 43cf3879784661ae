/**
 * One CT stack viewport (Cornerstone3D) with the reading overlays: lesion contours (SVG, from the AI's segmentation)
 * and long/short axes as Cornerstone Bidirectional annotations labelled by tracking id. Axes of editable lesions can
 * be dragged (the tool recomputes both lengths in mm from the image geometry); a new lesion is drawn with the same
 * tool in "add" mode.
 */
import { Enums as CoreEnums, eventTarget, type RenderingEngine, type StackViewport, type Types, utilities as csUtils } from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import { h } from '../dom';
import { cornerstone, type LoadedSeries } from './cornerstone';

export type Vec3 = [number, number, number];
export type LesionState = 'proposed' | 'accepted' | 'edited' | 'rejected' | 'added' | 'reference';

export interface OverlayLesion {
  key: string;
  /** e.g. `T01 liver`. */
  label: string;
  /** Target / non-target / new: shown in the label. */
  classification?: 'target' | 'non-target' | 'new' | null;
  state: LesionState;
  long: [Vec3, Vec3] | null;
  short: [Vec3, Vec3] | null;
  /** Lengths to show (mm): the AI's values until the axes are edited. */
  longMm: number | null;
  shortMm: number | null;
  /** Contour polygons (world mm, closed) on the lesion's key slice. */
  contours?: Vec3[][];
  /** z (mm) of the key slice when there are no axes. */
  z?: number;
  editable: boolean;
}

export interface AxesChange {
  key: string;
  long: [Vec3, Vec3];
  short: [Vec3, Vec3];
  longMm: number;
  shortMm: number;
}

export const PRESETS = {
  'soft tissue': { width: 400, center: 40 },
  lung: { width: 1500, center: -600 },
  bone: { width: 1800, center: 400 },
  liver: { width: 150, center: 30 },
} as const;
export type PresetName = keyof typeof PRESETS;

const COLORS: Record<LesionState, string> = {
  proposed: 'rgb(255, 214, 10)',
  accepted: 'rgb(52, 211, 153)',
  edited: 'rgb(56, 189, 248)',
  rejected: 'rgb(148, 148, 148)',
  added: 'rgb(244, 114, 182)',
  reference: 'rgb(251, 146, 60)',
};

let toolGroupSeq = 0;

/**
 * Text lines of every Bidirectional annotation: our label and the lengths we hold for the lesion (the AI's values
 * until edited, then the distances between the end points — what the server computes). Cornerstone's own cached
 * stats are throttled and can lag behind the handles, so they are not shown.
 */
function textLinesFn() {
  return (data: { label?: string; handles?: { points?: Types.Point3[] } }) => {
    const meta = labels.get(data as object);
    const pts = data.handles?.points;
    const edited = !meta || meta.edited;
    const L = !edited && meta!.longMm != null ? meta!.longMm : pts?.length === 4 ? dist([v3(pts[0]!), v3(pts[1]!)]) : null;
    const S = !edited && meta!.shortMm != null ? meta!.shortMm : pts?.length === 4 ? dist([v3(pts[2]!), v3(pts[3]!)]) : null;
    const lines = [meta?.text ?? data.label ?? 'lesion'];
    if (L !== null) lines.push(`L ${L.toFixed(1)} mm  S ${(S ?? 0).toFixed(1)} mm`);
    return lines;
  };
}
const labels = new WeakMap<object, { text: string; longMm: number | null; shortMm: number | null; edited: boolean }>();

export class CtViewer {
  readonly element: HTMLDivElement;
  readonly root: HTMLDivElement;
  private readonly svg: SVGSVGElement;
  private readonly info: HTMLDivElement;
  readonly titleEl: HTMLDivElement;
  private engine!: RenderingEngine;
  private viewport!: StackViewport;
  private group!: NonNullable<ReturnType<typeof tools.ToolGroupManager.createToolGroup>>;
  private series: LoadedSeries | null = null;
  private lesions = new Map<string, { lesion: OverlayLesion; uid?: string }>();
  private byUid = new Map<string, string>();
  private preset: PresetName = 'soft tissue';
  private listeners: Array<() => void> = [];
  private adding: ((a: AxesChange & { z: number }) => void) | null = null;
  onScroll: (index: number, z: number) => void = () => {};
  onAxesChanged: (c: AxesChange) => void = () => {};

  constructor(readonly viewportId: string, readonly title: string, readonly opts: { editable: boolean }) {
    this.element = h('div', { class: 'ct-canvas', oncontextmenu: (e: Event) => e.preventDefault() }) as HTMLDivElement;
    this.svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    this.svg.setAttribute('class', 'ct-contours');
    this.info = h('div', { class: 'ct-info' });
    this.titleEl = h('div', { class: 'ct-title' }, title);
    this.root = h('div', { class: 'ct-viewer', dataset: { viewport: viewportId } }, this.titleEl, h('div', { class: 'ct-stage' }, this.element, this.svg as unknown as Node, this.info)) as HTMLDivElement;
  }

  /** Enable the viewport (the element must be in the document and sized). */
  async mount(): Promise<void> {
    this.engine = await cornerstone();
    this.engine.enableElement({ viewportId: this.viewportId, element: this.element, type: CoreEnums.ViewportType.STACK, defaultOptions: { background: [0, 0, 0] as Types.Point3 } });
    this.viewport = this.engine.getViewport(this.viewportId) as StackViewport;
    const text = textLinesFn();
    const groupId = `g${++toolGroupSeq}-${this.viewportId}`;
    this.group = tools.ToolGroupManager.createToolGroup(groupId)!;
    for (const T of [tools.StackScrollTool, tools.WindowLevelTool, tools.PanTool, tools.ZoomTool]) this.group.addTool(T.toolName);
    this.group.addTool(tools.BidirectionalTool.toolName, { getTextLines: text, preventHandleOutsideImage: true });
    this.group.addViewport(this.viewportId, this.engine.id);
    this.group.setToolActive(tools.StackScrollTool.toolName, { bindings: [{ mouseButton: tools.Enums.MouseBindings.Wheel }] });
    this.group.setToolActive(tools.WindowLevelTool.toolName, { bindings: [{ mouseButton: tools.Enums.MouseBindings.Primary }] });
    this.group.setToolActive(tools.PanTool.toolName, { bindings: [{ mouseButton: tools.Enums.MouseBindings.Auxiliary }] });
    this.group.setToolActive(tools.ZoomTool.toolName, { bindings: [{ mouseButton: tools.Enums.MouseBindings.Secondary }] });
    if (this.opts.editable) this.group.setToolPassive(tools.BidirectionalTool.toolName);
    else this.group.setToolEnabled(tools.BidirectionalTool.toolName);

    const onImage = () => this.afterRender();
    this.element.addEventListener(CoreEnums.Events.IMAGE_RENDERED, onImage);
    const onNew = () => {
      const i = this.viewport.getCurrentImageIdIndex();
      this.onScroll(i, this.series?.z[i] ?? 0);
    };
    this.element.addEventListener(CoreEnums.Events.STACK_NEW_IMAGE, onNew);
    const onModified = (evt: Event) => this.annotationChanged(evt as CustomEvent, false);
    const onCompleted = (evt: Event) => this.annotationChanged(evt as CustomEvent, true);
    eventTarget.addEventListener(tools.Enums.Events.ANNOTATION_MODIFIED, onModified);
    eventTarget.addEventListener(tools.Enums.Events.ANNOTATION_COMPLETED, onCompleted);
    const ro = new ResizeObserver(() => {
      this.engine.resize(true, true);
      this.afterRender();
    });
    ro.observe(this.element);
    this.listeners.push(
      () => this.element.removeEventListener(CoreEnums.Events.IMAGE_RENDERED, onImage),
      () => this.element.removeEventListener(CoreEnums.Events.STACK_NEW_IMAGE, onNew),
      () => eventTarget.removeEventListener(tools.Enums.Events.ANNOTATION_MODIFIED, onModified),
      () => eventTarget.removeEventListener(tools.Enums.Events.ANNOTATION_COMPLETED, onCompleted),
      () => ro.disconnect(),
    );
  }

  destroy(): void {
    for (const l of this.listeners.splice(0)) l();
    this.clearAnnotations();
    try {
      tools.ToolGroupManager.destroyToolGroup(this.group.id);
      this.engine.disableElement(this.viewportId);
    } catch {
      /* already gone */
    }
  }

  async show(series: LoadedSeries, index = Math.floor(series.imageIds.length / 2)): Promise<void> {
    this.series = series;
    await this.viewport.setStack(series.imageIds, Math.max(0, Math.min(index, series.imageIds.length - 1)));
    this.setPreset(this.preset);
    this.redrawLesions();
  }

  get index(): number {
    return this.viewport?.getCurrentImageIdIndex() ?? 0;
  }
  get sliceCount(): number {
    return this.series?.imageIds.length ?? 0;
  }
  get currentZ(): number | undefined {
    return this.series?.z[this.index];
  }

  async scrollTo(index: number): Promise<void> {
    if (!this.series) return;
    const i = Math.max(0, Math.min(index, this.series.imageIds.length - 1));
    if (i !== this.index) await this.viewport.setImageIdIndex(i);
  }
  scrollBy(delta: number): Promise<void> {
    return this.scrollTo(this.index + delta);
  }
  /** The slice nearest a patient z (mm). */
  indexOfZ(z: number): number {
    if (!this.series) return 0;
    let best = 0;
    for (let i = 1; i < this.series.z.length; i++) if (Math.abs(this.series.z[i]! - z) < Math.abs(this.series.z[best]! - z)) best = i;
    return best;
  }
  scrollToZ(z: number): Promise<void> {
    return this.scrollTo(this.indexOfZ(z));
  }

  setPreset(name: PresetName): void {
    this.preset = name;
    const p = PRESETS[name];
    if (!this.series) return;
    this.viewport.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(p.width, p.center) });
    this.viewport.render();
  }
  get presetName(): PresetName {
    return this.preset;
  }

  resetView(): void {
    this.viewport.resetCamera();
    this.setPreset(this.preset);
  }

  /** Replace the lesions drawn (axes as annotations, contours as SVG). */
  setLesions(lesions: OverlayLesion[]): void {
    this.clearAnnotations();
    this.lesions.clear();
    for (const l of lesions) this.lesions.set(l.key, { lesion: l });
    this.redrawLesions();
  }

  updateLesion(l: OverlayLesion): void {
    const e = this.lesions.get(l.key);
    if (e?.uid) this.removeAnnotation(e.uid);
    this.lesions.set(l.key, { lesion: l });
    this.redrawLesions();
  }

  /** Jump to a lesion's key slice. */
  async goToLesion(key: string): Promise<void> {
    const l = this.lesions.get(key)?.lesion;
    const z = l?.long?.[0]?.[2] ?? l?.z;
    if (z !== undefined) await this.scrollToZ(z);
  }

  /** Draw mode: the next Bidirectional drawn becomes a new lesion (cb), then the mode ends. */
  startAdd(cb: (a: AxesChange & { z: number }) => void): void {
    this.adding = cb;
    this.group.setToolPassive(tools.WindowLevelTool.toolName);
    this.group.setToolActive(tools.BidirectionalTool.toolName, { bindings: [{ mouseButton: tools.Enums.MouseBindings.Primary }] });
    this.root.classList.add('adding');
  }
  cancelAdd(): void {
    this.adding = null;
    if (this.opts.editable) this.group.setToolPassive(tools.BidirectionalTool.toolName);
    else this.group.setToolEnabled(tools.BidirectionalTool.toolName);
    this.group.setToolActive(tools.WindowLevelTool.toolName, { bindings: [{ mouseButton: tools.Enums.MouseBindings.Primary }] });
    this.root.classList.remove('adding');
  }

  /** Page (client) coordinates of a world point on this viewport (for tests and keyboard-free automation). */
  toPage(world: Vec3): [number, number] {
    const c = this.viewport.worldToCanvas(world as Types.Point3);
    const r = this.element.getBoundingClientRect();
    return [r.left + c[0], r.top + c[1]];
  }

  /** The end points (world) of a lesion's axes as drawn now: [long p1, long p2, short p1, short p2]. */
  handles(key: string): Vec3[] | null {
    const uid = this.lesions.get(key)?.uid;
    const a = uid ? (tools.annotation.state.getAnnotation(uid) as { data: { handles: { points: Types.Point3[] } } } | undefined) : undefined;
    return a ? a.data.handles.points.map(v3) : null;
  }

  /** Cornerstone's own measurement of a lesion's axes ({ length, width } in mm), once its throttled update ran. */
  toolStats(key: string): { length: number; width: number } | null {
    const uid = this.lesions.get(key)?.uid;
    const a = uid ? (tools.annotation.state.getAnnotation(uid) as { data: { cachedStats?: Record<string, { length: number; width: number }> } } | undefined) : undefined;
    const s = a?.data.cachedStats ? Object.values(a.data.cachedStats)[0] : undefined;
    return s ? { length: s.length, width: s.width } : null;
  }

  /** Labels of the lesions drawn on this viewer (any slice). */
  labels(): string[] {
    return [...this.lesions.values()].map((e) => e.lesion.label);
  }

  /** Pixels of the rendered canvas (for the non-blank check in tests). */
  canvas(): HTMLCanvasElement | null {
    return this.element.querySelector('canvas');
  }

  private imageIdAtZ(z: number): string | undefined {
    if (!this.series) return undefined;
    return this.series.imageIds[this.indexOfZ(z)];
  }

  private clearAnnotations(): void {
    for (const { uid } of this.lesions.values()) if (uid) this.removeAnnotation(uid);
    this.byUid.clear();
  }

  private removeAnnotation(uid: string) {
    tools.annotation.state.removeAnnotation(uid);
    this.byUid.delete(uid);
  }

  private redrawLesions(): void {
    if (!this.series || !this.viewport) return;
    for (const [key, e] of this.lesions) {
      const l = e.lesion;
      if (e.uid || !l.long || !l.short) continue;
      const imageId = this.imageIdAtZ(l.long[0][2]);
      if (!imageId) continue;
      const a = tools.BidirectionalTool.hydrate(this.viewportId, [l.long, l.short] as never, { referencedImageId: imageId });
      if (!a) continue;
      const uid = a.annotationUID!;
      e.uid = uid;
      this.byUid.set(uid, key);
      const cls = l.classification === 'target' ? 'target' : l.classification === 'non-target' ? 'non-target' : l.classification === 'new' ? 'NEW' : '';
      const verdict = l.state === 'proposed' ? 'AI' : l.state === 'reference' ? 'baseline' : l.state;
      this.style(uid, a.data as object, l);
      if (!l.editable || !this.opts.editable) tools.annotation.locking.setAnnotationLocked(uid, true);
    }
    this.viewport.render();
  }

  private style(uid: string, data: object, l: OverlayLesion) {
    const cls = l.classification === 'target' ? 'target' : l.classification === 'non-target' ? 'non-target' : l.classification === 'new' ? 'NEW' : '';
    const verdict = l.state === 'proposed' ? 'AI' : l.state === 'reference' ? 'baseline' : l.state;
    labels.set(data, { text: `${l.label}${cls ? ` · ${cls}` : ''} · ${verdict}`, longMm: l.longMm, shortMm: l.shortMm, edited: l.state === 'edited' || l.state === 'added' });
    const color = COLORS[l.state];
    const highlight = l.editable && this.opts.editable ? 'rgb(255, 255, 255)' : color;
    tools.annotation.config.style.setAnnotationStyles(uid, {
      color,
      colorHighlighted: highlight,
      colorSelected: highlight,
      colorLocked: color,
      lineWidth: '2',
      lineDash: l.state === 'proposed' || l.state === 'rejected' || l.state === 'reference' ? '6,4' : '',
      textBoxFontSize: '14px',
      textBoxColor: color,
      textBoxColorHighlighted: color,
      textBoxColorSelected: color,
      textBoxColorLocked: color,
    } as never);
  }

  /** Restyle a lesion's drawn axes (state, label) without redrawing them (e.g. during a drag). */
  restyle(l: OverlayLesion): void {
    const e = this.lesions.get(l.key);
    if (!e) return;
    e.lesion = l;
    const a = e.uid ? (tools.annotation.state.getAnnotation(e.uid) as { data: object } | undefined) : undefined;
    if (e.uid && a) this.style(e.uid, a.data, l);
    this.viewport.render();
  }

  private annotationChanged(evt: CustomEvent, completed: boolean) {
    const a = evt.detail?.annotation as { annotationUID: string; metadata: { toolName: string; referencedImageId?: string }; data: { handles: { points: Types.Point3[] }; cachedStats: Record<string, { length: number; width: number }> } } | undefined;
    if (!a || a.metadata.toolName !== tools.BidirectionalTool.toolName) return;
    if (evt.detail.viewportId && evt.detail.viewportId !== this.viewportId) return;
    const pts = a.data.handles.points;
    const key = this.byUid.get(a.annotationUID);
    if (!key) {
      if (!completed || !this.adding || !this.series || !this.series.imageIds.includes(a.metadata.referencedImageId ?? '')) return;
      const cb = this.adding;
      this.cancelAdd();
      tools.annotation.state.removeAnnotation(a.annotationUID); // the app redraws it as a lesion with a key
      const long = [v3(pts[0]!), v3(pts[1]!)] as [Vec3, Vec3];
      const short = [v3(pts[2]!), v3(pts[3]!)] as [Vec3, Vec3];
      cb({ key: '', long, short, longMm: dist(long), shortMm: dist(short), z: long[0][2] });
      return;
    }
    // a handle drag of one of our lesions: MODIFIED while dragging (no COMPLETED for modifications)
    const meta = labels.get(a.data as object);
    if (meta) meta.edited = true;
    const long = [v3(pts[0]!), v3(pts[1]!)] as [Vec3, Vec3];
    const short = [v3(pts[2]!), v3(pts[3]!)] as [Vec3, Vec3];
    this.onAxesChanged({ key, long, short, longMm: dist(long), shortMm: dist(short) });
  }

  private afterRender(): void {
    if (!this.viewport || !this.series) return;
    const i = this.index;
    const z = this.series.z[i]!;
    const voi = this.viewport.getProperties().voiRange;
    const wl = voi ? csUtils.windowLevel.toWindowLevel(voi.lower, voi.upper) : { windowWidth: 0, windowCenter: 0 };
    const ww = Math.round(wl.windowWidth);
    const wc = Math.round(wl.windowCenter);
    this.info.textContent = `slice ${i + 1}/${this.series.imageIds.length} · z ${z.toFixed(1)} mm · W ${ww} L ${wc}`;
    // contours of lesions on this slice
    const rect = this.element.getBoundingClientRect();
    this.svg.setAttribute('width', String(rect.width));
    this.svg.setAttribute('height', String(rect.height));
    this.svg.setAttribute('viewBox', `0 0 ${rect.width} ${rect.height}`);
    while (this.svg.firstChild) this.svg.removeChild(this.svg.firstChild);
    const spacing = Math.abs((this.series.z[1] ?? z + 1) - (this.series.z[0] ?? z)) || 1;
    for (const { lesion } of this.lesions.values()) {
      for (const poly of lesion.contours ?? []) {
        if (!poly.length || Math.abs(poly[0]![2] - z) > spacing / 2) continue;
        const d = poly.map((p, k) => {
          const c = this.viewport.worldToCanvas(p as Types.Point3);
          return `${k ? 'L' : 'M'}${c[0].toFixed(1)},${c[1].toFixed(1)}`;
        });
        const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
        path.setAttribute('d', `${d.join('')}Z`);
        path.setAttribute('class', `contour contour-${lesion.state}`);
        path.setAttribute('stroke', COLORS[lesion.state]);
        this.svg.appendChild(path);
      }
    }
  }
}

const v3 = (p: Types.Point3 | number[]): Vec3 => [p[0]!, p[1]!, p[2]!];
const dist = ([a, b]: [Vec3, Vec3]) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
