// pm2 process file for anthropic-proxy.
//
//   uv tool install '.[postgres]'                  (from a clone of the repository; puts
//                                                   anthropic-proxy on your PATH)
//   pm2 start examples/ecosystem.config.js && pm2 save
//
// `interpreter: "none"` makes pm2 run the installed command itself; without it pm2 hands the
// Python entry point to node, which is why copies of the original file never started.
module.exports = {
  apps: [
    {
      name: "anthropic-proxy",
      script: "anthropic-proxy",
      args: ["serve", "--host", "127.0.0.1", "--port", "8082"],
      interpreter: "none",
      autorestart: true,
      kill_timeout: 20000,
      max_restarts: 20,
      env: {
        PYTHONUNBUFFERED: "1",
        LOG_LEVEL: "INFO",
        // DATABASE_URL: "postgresql://user:pass@127.0.0.1:5432/proxy",
      },
    },
  ],
};
