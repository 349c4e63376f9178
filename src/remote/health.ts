import { library } from '../nas-shell/link.js';
import { Shell } from './shell.js';

/**
 * Health waits that run on the NAS, polling locally several times a second
 * rather than once a round trip (src/nas-shell/health.sh). Values arrive as arguments.
 *
 * nr_http_ok URL             true when URL answers 2xx (curl, else wget)
 * nr_wait_container C T URL  waits up to T seconds for container C: its own
 *                            healthcheck, else URL, else staying up; fails at
 *                            once when it exits or restarts
 * nr_wait_stack T C...       waits until every container runs, and is
 *                            healthy where it has a healthcheck
 *
 * A program that calls them gets the library without naming it (see
 * nas-shell/link.ts); including it by hand is harmless.
 */
export const HEALTH = new Shell(library('health'));
