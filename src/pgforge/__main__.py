from pgforge.cli import main

main()
