"""Developer tools: start the stack (embedded or scaled out), benchmarks and load tests."""
