from livewatch.cli import main

main()
