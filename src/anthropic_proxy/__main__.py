from anthropic_proxy.cli import main

raise SystemExit(main())
