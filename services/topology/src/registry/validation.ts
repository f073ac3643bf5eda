import { z } from 'zod';

/**
 * Field rules shared by every source, so a workload is held to the same limits whichever way it
 * arrived. Names follow Kubernetes (DNS-1123); a service account must be one SPIFFE path segment.
 */
export const dnsLabel = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS-1123 label (lower-case letters, digits and -)');
export const dnsName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a DNS-1123 name (lower-case letters, digits, - and .)');
export const address = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9.:_-]+$/, 'an IP address or host name');
export const port = z.number().int().min(1).max(65535);
export const protocol = z.enum(['http', 'grpc', 'tcp']);
export const MAX_LABELS = 64;
export const labels = z
  .record(z.string().min(1).max(317), z.string().max(63))
  .refine((l) => Object.keys(l).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);

/** Protocol of a Kubernetes or Istio-style port: its appProtocol, else its name's prefix. */
export function protocolOf(appProtocol: unknown, name: unknown): 'http' | 'grpc' | 'tcp' {
  const hint = (typeof appProtocol === 'string' && appProtocol) || (typeof name === 'string' ? name : '');
  const prefix = hint.toLowerCase().split('-')[0] ?? '';
  if (prefix.startsWith('grpc') || prefix === 'http2' || prefix === 'kubernetes.io/h2c') return 'grpc';
  if (prefix.startsWith('http')) return 'http';
  return 'tcp';
}
