// Stub of Jira's Issue: the getters the validator reads.
package com.atlassian.jira.issue

interface Issue {
    Long getId()
    String getKey()
    Object getIssueType()
    Object getProjectObject()
    Object getStatus()
    String getSummary()
    Object getReporter()
    Object getAssignee()
    Date getCreated()
    Object getCustomFieldValue(Object customField)
}
