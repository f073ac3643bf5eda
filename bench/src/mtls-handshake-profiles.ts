import type { SecureContextOptions, TlsOptions } from 'node:tls';

/**
 * The TLS settings the mtls-handshake benchmark compares, shared by its client (mtls-handshake.ts
 * and mtls-handshake/) and its server process (mtls-handshake-server.ts). Everything else is the
 * same for every profile: TLS 1.3 only, ECDSA P-256 SVIDs with leaf + intermediate presented and
 * the root trusted, the server requiring and verifying a client certificate.
 *
 * Where a resumed handshake's time goes (Node 24.21 with its bundled OpenSSL 3.5, this 2-core
 * machine, `perf` over both processes, whole connections): about a quarter in the kernel (loopback
 * TCP, the wake-ups between the two processes), a fifth in JavaScript (net/tls socket objects and
 * their events), a seventh in the (EC)DHE key share (twice that with Node's defaults), a tenth in
 * the TLS 1.3 key schedule (HKDF and the transcript hash), a tenth in OpenSSL's SSL objects and
 * state machine, ~6% parsing the session (client: the Buffer passed as `session`; server:
 * decrypting the ticket and decoding the client certificate inside it), ~5% malloc. Only the key
 * share and the key schedule's hash are settings; they are the two below.
 */

/**
 * Key-share groups, preferred first. A TLS 1.3 resumption is `psk_dhe_ke`: the PSK from the ticket
 * is mixed with a fresh ephemeral key exchange, which is what keeps forward secrecy, so resumption
 * still pays one key share per side (keygen on both ends, derive on both ends).
 *
 * Node's default (`ecdhCurve: 'auto'`) is OpenSSL 3.5's list, whose client sends two key shares,
 * the post-quantum hybrid X25519MLKEM768 and X25519, and whose server picks the hybrid: ML-KEM-768
 * keygen and decapsulation on the client, encapsulation on the server, one X25519 keygen more on
 * the client and ~2.3 KB more on the wire (a 1 563-byte ClientHello instead of 331), all on the
 * critical path: ~0.2 ms of a ~1.1 ms resumed handshake, the largest single saving. Listing X25519
 * first (a plain list gives only its first group a key share) keeps one classical X25519 exchange;
 * P-256 stays as a fallback a peer can ask for with a HelloRetryRequest (FIPS-only builds). P-256
 * first measured 0.02–0.15 ms slower than X25519 here, with ~0.1 ms more client CPU.
 *
 * The price: no post-quantum protection of the traffic keys (harvest now, decrypt later). The
 * SVIDs are ECDSA P-256 either way, so authentication is classical in both profiles.
 */
export const TUNED_GROUPS = 'X25519:P-256';

/**
 * TLS 1.3 suites, preferred first. The suite's hash drives the whole key schedule (a dozen HKDF
 * steps and the transcript hash on each side): SHA-256 runs on the CPU's SHA extensions, SHA-384
 * (Node's default first suite, TLS_AES_256_GCM_SHA384) in software. AES-128 is the level the
 * classical X25519 and P-256 keys give anyway. The other two stay accepted. Worth 0.03–0.11 ms
 * on top of the X25519 share, and ~0.1 ms of CPU per connection over both ends.
 */
export const TUNED_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/** One set of settings, added to both ends' options. */
export type Profile = {
  description: string;
  server: TlsOptions;
  client: SecureContextOptions;
  /** What every connection must negotiate (`getEphemeralKeyInfo().name`, `getCipher().standardName`); null: reported, not checked. */
  group: string | null;
  suite: string | null;
};

export const profiles = {
  tuned: {
    description: `groups ${TUNED_GROUPS}, suites ${TUNED_SUITES}`,
    // honorCipherOrder: the server's order wins, so clients that prefer AES-256 (openssl s_time,
    // Node's defaults) still get the SHA-256 key schedule.
    server: { ecdhCurve: TUNED_GROUPS, ciphers: TUNED_SUITES, honorCipherOrder: true },
    client: { ecdhCurve: TUNED_GROUPS, ciphers: TUNED_SUITES },
    group: 'X25519',
    suite: 'TLS_AES_128_GCM_SHA256',
  },
  nodeDefaults: {
    description: "Node's defaults (ecdhCurve auto, default suites)",
    server: {},
    client: {},
    group: null,
    suite: null,
  },
  groupOnly: {
    description: `groups ${TUNED_GROUPS}, default suites`,
    server: { ecdhCurve: TUNED_GROUPS },
    client: { ecdhCurve: TUNED_GROUPS },
    group: 'X25519',
    suite: null,
  },
  suiteOnly: {
    description: `default groups, suites ${TUNED_SUITES}`,
    server: { ciphers: TUNED_SUITES, honorCipherOrder: true },
    client: { ciphers: TUNED_SUITES },
    group: null,
    suite: 'TLS_AES_128_GCM_SHA256',
  },
} as const satisfies Record<string, Profile>;

export type ProfileName = keyof typeof profiles;
export const profileNames = Object.keys(profiles) as ProfileName[];

/**
 * The server's ticket lifetime (Node's default, made explicit). A resumed handshake re-checks
 * neither the client's chain nor a CRL: the server trusts what it recorded in the ticket when the
 * chain was verified. So a ticket must not outlive the revocation delay the mesh promises.
 */
export const SESSION_TIMEOUT_SECONDS = 300;

/** Messages between the benchmark and its server process. */
export type ServerStart = { op: 'start'; key: string; cert: string; ca: string; clientId: string };
export type ServerStats = {
  connections: number;
  resumed: number;
  /** Connections whose peer was authorised with exactly the expected SPIFFE ID, full or resumed. */
  identityChecked: number;
  identityMismatches: number;
  clientErrors: number;
  lastError: string;
  /** process.cpuUsage() of the server process, µs. */
  cpuMicros: number;
};
export type ServerReady = { op: 'ready'; ports: Record<ProfileName, number>; plainPort: number };
export type ServerStatsReply = { op: 'stats'; stats: ServerStats };
