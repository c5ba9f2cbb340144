from pipeline.loan_monitor.monitor import main

main()
