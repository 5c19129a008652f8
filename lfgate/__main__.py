from lfgate.cli import main

raise SystemExit(main())
