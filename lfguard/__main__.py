from lfguard.cli import main

raise SystemExit(main())
