/**
 * A worker thread of `warden audit verify FILE`: digests the export lines it is sent (parse,
 * canonical JSON, SHA-256) and sends back what the verifier keeps of each.
 */
import { parentPort } from 'node:worker_threads';
import { digestLines } from './audit-file.ts';
import type { DigestRequest } from './audit-file.ts';

parentPort?.on('message', (request: DigestRequest) => {
  parentPort?.postMessage(digestLines(request));
});
