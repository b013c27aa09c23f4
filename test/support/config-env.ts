/**
 * The CAFKIT_* variables a processor cannot start without, with harmless
 * values (nothing listens there): the base config of the unit tests, which
 * change one variable at a time.
 */
export const CONFIG_ENV: Readonly<Record<string, string>> = {
  CAFKIT_ORG_ID: '201',
  CAFKIT_BROKER_URL: 'stomp+ssl://localhost:61612',
  CAFKIT_BROKER_USER: 'svc',
  CAFKIT_BROKER_PASSWORD: 'broker-secret',
  CAFKIT_REST_URL: 'https://localhost:8443',
  CAFKIT_API_KEY_ID: 'key',
  CAFKIT_API_KEY_SECRET: 'key-secret',
};
