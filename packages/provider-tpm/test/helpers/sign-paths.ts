/**
 * The two sign paths the swtpm suites run on: keys kept loaded (one Esys_Sign per signature) and
 * every signature through Fapi_Sign. Straight to the simulator (no resource manager) keys are kept
 * loaded only when `loadedKeys` asks for it.
 */
export const SIGN_PATHS = [
  { name: 'loaded keys', loadedKeys: 1 },
  { name: 'Fapi_Sign', loadedKeys: 0 },
] as const;
