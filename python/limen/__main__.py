from limen.cli import main

raise SystemExit(main())
