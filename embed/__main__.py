from embed.cli import main

raise SystemExit(main())
