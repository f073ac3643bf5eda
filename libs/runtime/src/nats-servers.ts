/** `nats://` or `tls://` URLs, comma-separated, into a list; null when any is not one or one repeats. */
export function parseNatsServers(text: string): string[] | null {
  const servers = text.split(',').map((s) => s.trim());
  const valid = servers.every((s) => {
    if (!/^(nats|tls):\/\/\S+$/.test(s)) return false;
    try {
      const url = new URL(s);
      return url.hostname !== '' && url.pathname === '' && url.search === '';
    } catch {
      return false;
    }
  });
  return valid && new Set(servers).size === servers.length ? servers : null;
}
