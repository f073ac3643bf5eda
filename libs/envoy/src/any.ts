import type { MessageTypeDefinition, PackageDefinition } from '@grpc/proto-loader';
import { EnvoyProtoError } from './errors.ts';

/** `google.protobuf.Any` as proto-loader hands it over with `keepCase`. */
export type Any = { type_url: string; value: Buffer | Uint8Array };

const TYPE_URL_PREFIX = 'type.googleapis.com/';

export const typeUrlOf = (fullName: string): string => `${TYPE_URL_PREFIX}${fullName}`;

function messageType(definition: PackageDefinition, fullName: string): MessageTypeDefinition<object, object> {
  const type = definition[fullName];
  if (!type || !('format' in type) || type.format !== 'Protocol Buffer 3 DescriptorProto')
    throw new EnvoyProtoError('unknown_type', `${fullName} is not a message type of the loaded protos`);
  return type as MessageTypeDefinition<object, object>;
}

/**
 * Packs a message into `Any`: the type URL and the message's own wire bytes. An `Any` given as a
 * plain object of the message's fields would be encoded as an empty Any by protobuf.js, which
 * Envoy reads as "no resource"; packing explicitly is what makes the resource arrive.
 *
 * protobuf.js drops a field the message type does not have without a word, so a misspelt
 * `require_client_certificate` would ship a listener that asks for no certificate. The packed
 * bytes are read back, and a field of the input missing from them is an error.
 */
export function packAny<T extends object>(definition: PackageDefinition, fullName: string, message: T): Any {
  const type = messageType(definition, fullName);
  const value = type.serialize(message);
  const dropped = droppedFields(message, type.deserialize(value), '');
  if (dropped.length > 0)
    throw new EnvoyProtoError('unknown_field', `${fullName} has no field ${dropped.join(', ')}`);
  return { type_url: typeUrlOf(fullName), value };
}

/** Paths of `input` that are not in `decoded` (which has every field, `defaults: true`). */
function droppedFields(input: unknown, decoded: unknown, path: string): string[] {
  if (input === null || typeof input !== 'object' || input instanceof Uint8Array) return [];
  if (Array.isArray(input)) {
    if (!Array.isArray(decoded)) return [path];
    return input.flatMap((item, i) => droppedFields(item, decoded[i], `${path}[${i}]`));
  }
  if (decoded === null || typeof decoded !== 'object') return Object.keys(input).length > 0 ? [path] : [];
  const out = decoded as Record<string, unknown>;
  return Object.entries(input).flatMap(([key, value]) => {
    const at = path ? `${path}.${key}` : key;
    return key in out ? droppedFields(value, out[key], at) : [at];
  });
}

/** Unpacks an `Any` of the expected type; another type is an error, never a silent misread. */
export function unpackAny<T extends object>(definition: PackageDefinition, fullName: string, any: Any): T {
  if (any.type_url !== typeUrlOf(fullName))
    throw new EnvoyProtoError('unexpected_type', `expected ${typeUrlOf(fullName)}, got ${any.type_url}`);
  return messageType(definition, fullName).deserialize(Buffer.from(any.value)) as T;
}
