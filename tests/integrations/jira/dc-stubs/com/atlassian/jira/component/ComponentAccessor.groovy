// Stub of Jira's ComponentAccessor: the managers a test sets.
package com.atlassian.jira.component

class ComponentAccessor {
    static Object customFieldManager
    static Object workflowManager
    static Object jiraAuthenticationContext
    static Object commentManager
}
