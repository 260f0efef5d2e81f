// Stub of OSWorkflow's InvalidInputException as Jira ships it: a message,
// and generic errors (the String constructor adds its message as one).
package com.opensymphony.workflow

class InvalidInputException extends Exception {
    List genericErrors = []
    Map errors = [:]
    InvalidInputException(String error) { super(error); addError(error) }
    void addError(String error) { genericErrors << error }
    void addError(String name, String error) { errors[name] = error }
}
