from tribe.cli import main

main()
