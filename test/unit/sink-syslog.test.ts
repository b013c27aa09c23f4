// The syslog channel's pure parts: PRI, severities, headers (RFC 5424 and
// RFC 3164), structured data escaping, the size limit and its cut marker, the
// RFC 6587 frame, and the arguments of the local `logger`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cutMarker, cutMessage, DEFAULT_SEVERITIES, escapeSdParam, headerField, octetFrame, rfc3164Timestamp, rfc5424Timestamp,
  sdElement, severityFor, syslogHeader, syslogMessage, syslogPri, type SyslogHeaderFields,
} from '../../lib/sinks/syslog-format.js';
import { loggerArgs, loggerLine } from '../../lib/sinks/syslog-local.js';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

test('PRI is facility × 8 + severity (RFC 5424 tables 1 and 2)', () => {
  assert.equal(syslogPri('kern', 'emerg'), 0);
  assert.equal(syslogPri('user', 'info'), 14);
  assert.equal(syslogPri('user', 'notice'), 13);
  assert.equal(syslogPri('authpriv', 'warning'), 84);
  assert.equal(syslogPri('local0', 'err'), 131);
  assert.equal(syslogPri('local4', 'err'), 163);
  assert.equal(syslogPri('local7', 'debug'), 191);
});

test('severity by status: the defaults, and an override replaces only its own status', () => {
  assert.deepEqual(DEFAULT_SEVERITIES, { succeeded: 'info', failed: 'err', dead_lettered: 'err', timed_out: 'warning', received: 'notice', running: 'notice' });
  assert.equal(severityFor('failed', {}), 'err');
  assert.equal(severityFor('timed_out', {}), 'warning');
  assert.equal(severityFor('failed', { failed: 'crit' }), 'crit');
  assert.equal(severityFor('succeeded', { failed: 'crit' }), 'info');
});

test('SD-PARAM values escape ", \\ and ] and nothing else (RFC 5424 §6.3.3)', () => {
  assert.equal(escapeSdParam('plain [x] = \'y\''), "plain [x\\] = 'y'");
  assert.equal(escapeSdParam('a"b\\c]d'), 'a\\"b\\\\c\\]d');
  assert.equal(sdElement('origin', { software: 'cafkit', swVersion: '1.0 "beta"]' }), '[origin software="cafkit" swVersion="1.0 \\"beta\\"\\]"]');
});

test('RFC 5424 timestamps: local time with milliseconds and the offset', () => {
  const at = new Date('2024-05-06T07:08:09.004Z');
  assert.equal(rfc5424Timestamp(at, 0), '2024-05-06T07:08:09.004+00:00');
  assert.equal(rfc5424Timestamp(at, 120), '2024-05-06T09:08:09.004+02:00');
  assert.equal(rfc5424Timestamp(at, -330), '2024-05-06T01:38:09.004-05:30');
  // crossing midnight backwards changes the date
  assert.equal(rfc5424Timestamp(new Date('2024-01-01T00:30:00.000Z'), -60), '2023-12-31T23:30:00.000-01:00');
  // the default is this host's offset at that instant
  const offset = -at.getTimezoneOffset();
  assert.equal(rfc5424Timestamp(at), rfc5424Timestamp(at, offset));
});

test('RFC 3164 timestamps: Mmm dd hh:mm:ss with the day padded by a space', () => {
  assert.equal(rfc3164Timestamp(new Date('2024-05-06T07:08:09.004Z'), 0), 'May  6 07:08:09');
  assert.equal(rfc3164Timestamp(new Date('2024-12-31T23:59:59.999Z'), 0), 'Dec 31 23:59:59');
  assert.equal(rfc3164Timestamp(new Date('2024-12-31T23:30:00Z'), 60), 'Jan  1 00:30:00');
});

test('header fields: no spaces or control characters, NILVALUE when empty, bounded length', () => {
  assert.equal(headerField('my app', 48), 'my_app');
  assert.equal(headerField('tab\there\n', 48), 'tab_here_');
  assert.equal(headerField('', 48), '-');
  assert.equal(headerField('x'.repeat(60), 48), 'x'.repeat(48));
  assert.equal(headerField('ünï', 48), '_n_');
});

const fields: SyslogHeaderFields = {
  format: 'rfc5424',
  facility: 'local4',
  severity: 'err',
  date: new Date('2024-05-06T07:08:09.004Z'),
  offsetMinutes: 120,
  hostname: 'worker-1',
  appName: 'cafkit',
  procId: '4242',
  msgId: 'activity',
  structuredData: '[origin software="cafkit" swVersion="0.1.0"]',
};

test('RFC 5424 header: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD, then a space', () => {
  assert.equal(syslogHeader(fields), '<163>1 2024-05-06T09:08:09.004+02:00 worker-1 cafkit 4242 activity [origin software="cafkit" swVersion="0.1.0"] ');
  assert.equal(syslogHeader({ ...fields, structuredData: '', hostname: '' }), '<163>1 2024-05-06T09:08:09.004+02:00 - cafkit 4242 activity - ');
});

test('RFC 3164 header: <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: (no MSGID, no structured data)', () => {
  assert.equal(syslogHeader({ ...fields, format: 'rfc3164', severity: 'info', facility: 'user' }), '<14>May  6 09:08:09 worker-1 cafkit[4242]: ');
});

test('a message that fits is not touched', () => {
  assert.equal(cutMessage('{"a":1}', 7), '{"a":1}');
  assert.equal(syslogMessage('<14>1 - - - - - - ', '{"a":1}', 480), '<14>1 - - - - - - {"a":1}');
});

test('a longer message is cut to exactly the budget, ending with the count of bytes left out', () => {
  const msg = 'x'.repeat(100);
  const cut = cutMessage(msg, 40);
  assert.equal(bytes(cut), 40);
  const m = /^(x*)…\[cut: (\d+) bytes\]$/.exec(cut);
  assert.ok(m, cut);
  assert.equal(m[1]!.length + Number(m[2]), 100, 'kept + cut = the original');
  assert.equal(cut, `${'x'.repeat(22)}${cutMarker(78)}`);
});

test('the cut marker grows with the digits of N and the total still fits', () => {
  for (let length = 50; length < 1200; length += 7) {
    for (const budget of [30, 31, 40, 99, 117, 118, 119, 120, 500]) {
      const msg = 'y'.repeat(length);
      const cut = cutMessage(msg, budget);
      assert.ok(bytes(cut) <= budget, `${length} → ${budget}: ${bytes(cut)} bytes`);
      if (length <= budget) continue;
      const m = /^(y*)…\[cut: (\d+) bytes\]$/.exec(cut);
      assert.ok(m, cut);
      assert.equal(m[1]!.length + Number(m[2]), length);
    }
  }
});

test('a cut never splits a UTF-8 character', () => {
  const msg = '{"note":"' + 'ü✓😀'.repeat(60) + '"}';
  for (let budget = 30; budget < bytes(msg); budget += 1) {
    const cut = cutMessage(msg, budget);
    assert.ok(bytes(cut) <= budget);
    assert.equal(Buffer.from(cut, 'utf8').toString('utf8'), cut);
    assert.ok(!cut.includes('\ufffd'), 'no replacement character');
    const m = /^([\s\S]*)…\[cut: (\d+) bytes\]$/.exec(cut);
    assert.ok(m);
    assert.ok(msg.startsWith(m[1]!), 'the kept part is a prefix of the original');
    assert.equal(bytes(m[1]!) + Number(m[2]), bytes(msg));
  }
});

test('a whole message never exceeds max_message_bytes; a header without room for the marker is an error', () => {
  const header = syslogHeader(fields);
  for (const max of [480, 481, 777, 8192]) {
    const message = syslogMessage(header, 'z'.repeat(10_000), max);
    assert.equal(bytes(message), max);
    assert.ok(message.startsWith(header));
  }
  assert.throws(() => syslogMessage('h'.repeat(470), 'z'.repeat(100), 480), /leaves no room/);
});

test('octet-counting frame: the length counts bytes, not characters (RFC 6587)', () => {
  assert.equal(octetFrame('<14>1 - - - - - - hi').toString(), '20 <14>1 - - - - - - hi');
  const frame = octetFrame('ü✓');
  assert.equal(frame.toString('utf8'), '5 ü✓');
  // frames back to back parse back into the messages
  const stream = Buffer.concat([octetFrame('first ü'), octetFrame('second'), octetFrame('')]);
  const out: string[] = [];
  for (let i = 0; i < stream.length;) {
    const space = stream.indexOf(0x20, i);
    const length = Number(stream.toString('ascii', i, space));
    out.push(stream.toString('utf8', space + 1, space + 1 + length));
    i = space + 1 + length;
  }
  assert.deepEqual(out, ['first ü', 'second', '']);
});

test('logger arguments: the socket, per-line PRI, echo on stderr, socket errors on, our tag, pid, MSGID and origin element', () => {
  const settings = { socket: '/run/x.sock', format: 'rfc5424' as const, tag: 'cafkit', procId: 77, software: 'cafkit', swVersion: '1.2 "x"', maxMessageBytes: 9000 };
  assert.deepEqual(loggerArgs(settings), [
    '--socket-errors=on', '--socket', '/run/x.sock', '--prio-prefix', '--stderr', '--tag', 'cafkit', '--id=77', '--size', '9000',
    '--rfc5424=notq', '--msgid', 'activity', '--sd-id', 'origin', '--sd-param', 'software="cafkit"', '--sd-param', 'swVersion="1.2 \\"x\\""',
  ]);
  assert.deepEqual(loggerArgs({ ...settings, format: 'rfc3164' }).slice(-1), ['--rfc3164']);
  assert.ok(!loggerArgs({ ...settings, format: 'rfc3164' }).includes('--msgid'));
});

test('a logger line is <PRI>MSG and one line, whatever the MSG holds', () => {
  assert.equal(loggerLine(14, '{"a":1}'), '<14>{"a":1}\n');
  assert.equal(loggerLine(11, 'a\nb\r\nc'), '<11>a b  c\n');
});
