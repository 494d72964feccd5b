from orchestration.demo.generator.cli import main

main()
