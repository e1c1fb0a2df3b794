from loomsight.cli import main

main()
