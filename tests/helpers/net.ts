import { createServer, type AddressInfo } from 'node:net';

/** A free loopback TCP port (bound, then released), for servers a test starts on a port of its own. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => {
        ok(port);
      });
    });
  });
}
