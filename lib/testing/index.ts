/**
 * cafkit/testing: run a processor's handlers on built messages against an
 * in-process platform emulator, and assert on replies, progress and REST calls.
 *
 * @example
 * import { testProcessor, build } from 'cafkit/testing';
 * const kit = await testProcessor(processor);
 * const run = await kit.run('Echo', build.message({ properties: { a: 1 } }));
 */
export { testProcessor, type KitOptions, type ProcessorKit, type RunResult } from './kit.js';
export { MemoryTransport, type SentMessage } from './memory-transport.js';
export * as build from './builders.js';
