function process_message() end
