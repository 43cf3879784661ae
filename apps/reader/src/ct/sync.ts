/**
 * Synchronised scrolling by table position (z): when one viewer scrolls, the others go to the slice nearest its z.
 *
 * The viewer that scrolled leads until the others have arrived. Scroll events of the viewers being moved are echoes
 * of that move and are ignored. When the leader scrolls again before the others arrive (a held arrow key, a fast
 * wheel), its newest z is kept and followed as soon as the running move ends, so the followers always end on the
 * leader's last slice instead of the first one of a burst.
 */
import type { CtViewer } from './viewer';

export function linkScrolling(viewers: readonly CtViewer[], enabled: () => boolean = () => true): void {
  let leader: CtViewer | null = null;
  let target: number | null = null;
  const follow = async (from: CtViewer) => {
    while (target !== null) {
      const z = target;
      target = null;
      await Promise.allSettled(viewers.filter((v) => v !== from).map((v) => v.scrollToZ(z)));
    }
  };
  for (const v of viewers)
    v.onScroll = (_i, z) => {
      if (!enabled() || (leader && leader !== v)) return;
      target = z;
      if (leader) return; // the running move takes the newest z when it ends
      leader = v;
      void follow(v).finally(() => (leader = null));
    };
}
