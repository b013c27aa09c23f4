// The Slack channel's pure part: the message posted for a record.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalRecordText } from '../../lib/activity/signer.js';
import { SlackChannelSchema } from '../../lib/config/alerting.js';
import { activityTitle, renderText } from '../../lib/sinks/render.js';
import { escapeSlack, slackMessage } from '../../lib/sinks/slack.js';
import { signedActivities } from '../support/signed-activities.js';

const activities = signedActivities();
after(() => activities.dispose());

const slack = (options: Record<string, unknown> = {}) => SlackChannelSchema.parse({ enable: true, oauth_token: 'xoxb-1', channel_id: 'C1', ...options });

test('slackMessage: title as text, colour by status, pretext only when set, intro + escaped rendering + end', () => {
  const record = activities.record({ status: 'timed_out', error: 'took > 30 s & gave up' });
  const message = slackMessage(slack({ body_intro: '*cafkit*\n', body_end: '\n<!here>' }), record);
  assert.equal(message.channel, 'C1');
  assert.equal(message.text, escapeSlack(activityTitle(record)));
  const [attachment] = message.attachments;
  assert.equal(attachment.color, 'warning');
  assert.equal('pretext' in attachment, false);
  assert.equal(attachment.text, `*cafkit*\n${escapeSlack(renderText(record))}\n<!here>`);
  assert.ok(attachment.text.includes('took &gt; 30 s &amp; gave up'));
  assert.equal(attachment.fallback, activityTitle(record));
});

test('slackMessage: text_color with or without #; base64 carries the signed JSON unescaped', () => {
  const record = activities.record({ status: 'dead_lettered' });
  assert.equal(slackMessage(slack(), record).attachments[0].color, 'danger');
  assert.equal(slackMessage(slack({ text_color: 'A1B2C3' }), record).attachments[0].color, '#A1B2C3');
  assert.equal(slackMessage(slack({ text_color: '#a1b2c3', pretext: 'p' }), record).attachments[0].color, '#a1b2c3');
  const encoded = slackMessage(slack({ base64: true }), record).attachments[0].text;
  assert.equal(Buffer.from(encoded, 'base64').toString('utf8'), canonicalRecordText(record));
});

test('escapeSlack: only &, < and >', () => {
  assert.equal(escapeSlack('a < b && c > "d"'), 'a &lt; b &amp;&amp; c &gt; "d"');
});
