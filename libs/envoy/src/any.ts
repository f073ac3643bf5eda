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
 */
export function packAny<T extends object>(definition: PackageDefinition, fullName: string, message: T): Any {
  return { type_url: typeUrlOf(fullName), value: messageType(definition, fullName).serialize(message) };
}

/** Unpacks an `Any` of the expected type; another type is an error, never a silent misread. */
export function unpackAny<T extends object>(definition: PackageDefinition, fullName: string, any: Any): T {
  if (any.type_url !== typeUrlOf(fullName))
    throw new EnvoyProtoError('unexpected_type', `expected ${typeUrlOf(fullName)}, got ${any.type_url}`);
  return messageType(definition, fullName).deserialize(Buffer.from(any.value)) as T;
}
