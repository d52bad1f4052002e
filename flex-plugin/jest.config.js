module.exports = {
  testEnvironment: 'jsdom',
  // @twilio/flex-ui's bundle requires packages (uuid, date-fns v4) whose "browser"/"import" exports are
  // ES modules; under jest the CommonJS builds are the ones to load.
  testEnvironmentOptions: { customExportConditions: ['node', 'require', 'default'] },
  setupFiles: ['<rootDir>/test/setup-jsdom.ts'],
  testMatch: ['<rootDir>/test/**/*.test.ts?(x)'],
  clearMocks: true,
  restoreMocks: true,
};
