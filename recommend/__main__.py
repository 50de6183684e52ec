from recommend.cli import main

raise SystemExit(main())
