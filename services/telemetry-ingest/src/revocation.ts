import { readFileSync, statSync } from 'node:fs';
import { MAX_CRL_BLOCKS, normaliseSerial, parseCrls } from '@warden/pki';
import { ConfigError } from '@warden/runtime';

type Log = { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };

/**
 * The serials revoked by the CRLs in the SVID folder's `crl.pem`, which the agent writes only
 * after checking their signatures. The file is read again when it changes; without it nothing is
 * revoked (an agent with no CRL URL writes none), and the service says so at start.
 */
export class RevokedSerials {
  private serials: ReadonlySet<string> = new Set();
  /** The modification time and size of what `serials` came from; `absent` or `unreadable` for no file. */
  private version: string | null = null;

  private readonly file: string;
  private readonly log: Log;

  constructor(file: string, log: Log) {
    this.file = file;
    this.log = log;
  }

  /** Reads the file now: a malformed one stops the start, naming it. */
  load(): void {
    this.refresh(true);
    if (this.version === 'absent')
      this.log.warn({ file: this.file }, 'no crl.pem: revoked SVIDs are not refused');
    else this.log.info({ file: this.file, revoked: this.serials.size }, 'CRLs loaded');
  }

  /** True when `serialHex` (as Node gives a peer certificate's) is revoked by what was last read. */
  has(serialHex: string): boolean {
    return this.serials.has(normaliseSerial(serialHex));
  }

  /** Reads the file again if it changed; true when the set changed. Never throws unless `strict`: failures keep the last good set. */
  refresh(strict = false): boolean {
    let version: string;
    try {
      const stat = statSync(this.file);
      version = `${stat.mtimeMs}:${stat.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        // Called from the listener's handlers: a failure here must not take a stream down.
        if (strict) throw new ConfigError('telemetry-ingest', [`${this.file}: ${(err as Error).message}`]);
        if (this.version !== 'unreadable')
          this.log.warn({ err, file: this.file }, 'crl.pem not readable; keeping the last CRLs');
        this.version = 'unreadable';
        return false;
      }
      version = 'absent';
    }
    if (version === this.version) return false;
    if (version === 'absent') {
      // The agent removes a workload's files only when its entry goes: keep what was revoked.
      if (this.version !== null) this.log.warn({ file: this.file }, 'crl.pem removed; keeping the last CRLs');
      this.version = version;
      return false;
    }
    try {
      const crls = parseCrls(readFileSync(this.file, 'utf8'), this.file, {
        maxBytes: 64 * 1024 * 1024,
        maxBlocks: MAX_CRL_BLOCKS,
      });
      this.serials = new Set(crls.flatMap((crl) => [...crl.serials]));
      this.version = version;
      return true;
    } catch (err) {
      if (strict) throw new ConfigError('telemetry-ingest', [`${this.file}: ${(err as Error).message}`]);
      this.log.warn({ err, file: this.file }, 'crl.pem unreadable; keeping the last CRLs');
      this.version = version;
      return false;
    }
  }
}
