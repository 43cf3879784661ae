/** Hash navigation; the same hash again re-renders (after a save, a sign...). */
export function navigate(hash: string): void {
  if (location.hash === hash) window.dispatchEvent(new Event('reroute'));
  else location.hash = hash;
}
