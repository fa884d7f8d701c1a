function process_message()
  x = = 1
end
