import { main } from '@warden/runtime';

// At this stage the service boots, provisions the streams it writes, audits its own lifecycle
// and reports ready; its capabilities arrive with the telemetry issue.
main({ name: 'telemetry-ingest', start: async () => ({}) });
