#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so processors written in
// TypeScript load without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../lib/cli/main.ts');
