import { fileURLToPath } from 'node:url';

/** Path of the Lua fetch `lua.spiffe_id` that `renderTerminator` loads (shipped beside this file). */
export const SPIFFE_ID_LUA = fileURLToPath(new URL('./spiffe-id.lua', import.meta.url));
