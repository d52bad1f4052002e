// For jest only: `flex-plugin build` compiles with its own babel-preset-react-app and ignores this file.
module.exports = {
  presets: [
    ['@babel/preset-env', { targets: { node: 'current' } }],
    '@babel/preset-react',
    '@babel/preset-typescript',
  ],
};
