"""AVA data: the CSV formats, label maps, frame lists and tables, records, dataset registration, the doctor, the synthetic set."""
