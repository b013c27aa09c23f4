/** Test-only credentials the bench's alert servers accept and its processor config uses (loopback doubles, not real secrets). */
export const BENCH_SECRETS = { slackToken: 'xoxb-bench-0123456789', hiveKey: 'bench-hive-key-0123456789', smtpUser: 'bench', smtpPassword: 'bench-smtp-0123' };
