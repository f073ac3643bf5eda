export type { ComponentStatus, StackOptions, StackPorts } from './stack.ts';
export { ComponentState, defaultPorts, ephemeralPorts, formatStatus, Stack } from './stack.ts';
